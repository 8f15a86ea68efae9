'use server';
import { revalidatePath } from 'next/cache';
import { cookies, headers } from 'next/headers';
import { nextActionContext } from 'trpc-session/next';
import { createCaller } from '../server/router';
import { sessions } from '../server/sessions';

// A server action can set cookies: its caller starts, regenerates and destroys sessions.
const caller = async () => createCaller(nextActionContext(sessions, await cookies(), await headers()));

export async function addToBasket(productId: string) {
  await (await caller()).add(productId);
  revalidatePath('/');
}

export async function logIn(form: FormData) {
  await (await caller()).login(String(form.get('name')));
  revalidatePath('/');
}

export async function logOut() {
  await (await caller()).logout();
  revalidatePath('/');
}
