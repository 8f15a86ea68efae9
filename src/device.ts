import type { DeviceInfo } from './session-api.js';

/** The most characters each part of a device's description may have: enough for any real one, no more. */
const DEVICE_LIMITS = { label: 100, userAgent: 512, ip: 64 } as const;
type DevicePart = keyof typeof DEVICE_LIMITS;
const isDevicePart = (name: string): name is DevicePart => Object.hasOwn(DEVICE_LIMITS, name);

/**
 * `bindUser`'s `device`, checked and encoded as the store keeps it (JSON of its parts); `undefined` for none.
 * Throws a `TypeError` naming the part that is not a string within its limit, or that is not a part at all.
 */
export function encodeDevice(device: unknown): string | undefined {
  if (device === undefined) return undefined;
  if (typeof device !== 'object' || device === null || Array.isArray(device)) {
    throw new TypeError('trpc-session: bindUser `device` must be an object: { label?, userAgent?, ip? }');
  }
  const parts: DeviceInfo = {};
  for (const [name, value] of Object.entries(device)) {
    if (!isDevicePart(name)) throw new TypeError(`trpc-session: bindUser \`device.${name}\` is not a device part (label, userAgent, ip)`);
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > DEVICE_LIMITS[name]) {
      throw new TypeError(`trpc-session: bindUser \`device.${name}\` must be a string of at most ${DEVICE_LIMITS[name]} characters`);
    }
    parts[name] = value;
  }
  return Object.keys(parts).length === 0 ? undefined : JSON.stringify(parts);
}

/** A device's description as `encodeDevice` stored it; `null` for none, or for one that no longer reads as one. */
export function decodeDevice(stored: string | undefined): DeviceInfo | null {
  if (stored === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const device: DeviceInfo = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (isDevicePart(name) && typeof value === 'string' && value.length <= DEVICE_LIMITS[name]) device[name] = value;
  }
  return device;
}
