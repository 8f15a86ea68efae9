// @ts-check
import { Converter, ReflectionKind } from 'typedoc';

/**
 * A typedoc plugin: the reference shows each class's own members. An error class's page then says what it adds
 * (its fields, when it is thrown) instead of repeating `Error`'s and `TRPCError`'s members (`captureStackTrace`,
 * `stackTraceLimit`, `stack`…); what it inherits from `SessionError` is on that class's page, linked by Extends.
 * @param {import('typedoc').Application} app
 */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const members = context.project.getReflectionsByKind(ReflectionKind.Property | ReflectionKind.Method | ReflectionKind.Accessor);
    for (const member of members) {
      const owner = member.parent;
      if (owner?.kindOf(ReflectionKind.Class) && member.inheritedFrom !== undefined) context.project.removeReflection(member);
    }
  });
}
