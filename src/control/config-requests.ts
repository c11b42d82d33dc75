import { mayEditConfigs } from '../policy/authorize.ts';
import type { Request, Response } from '../protocol/messages.ts';
import type { ControlContext, Visible } from './handlers.ts';
import { resolveEditTarget } from './resolve-id.ts';

/**
 * `read-config` and `save-config`, the two halves of `dmctl edit`: the caller gets the
 * text of a config file (or learns there is none yet), edits a private copy, and asks
 * the manager to check that copy and write it as the file's owner. Only the owner and
 * root may; a help-desk user of [manages] is told so before any editor opens.
 */
export async function handleConfigRequest(
  context: ControlContext,
  caller: string,
  request: Request,
  visible: Visible,
): Promise<Response> {
  const refuse = (error: string): Response => {
    context.audit(caller, request, `refused: ${error}`);
    return { ok: false, error };
  };
  const target = resolveEditTarget(request.id ?? '', caller, visible.ids(), visible.manageable);
  if (!target.ok) return refuse(target.error);
  const { owner, name } = target;
  if (!mayEditConfigs(caller, owner))
    return refuse(
      `not allowed: only ${owner} and root may change ${owner}'s daemon configs ([manages] lets you see and control their daemons)`,
    );
  if (!context.runsDaemons(owner))
    return refuse(`not allowed: '${owner}' may not run daemons (see [can_run_as])`);
  if (request.command === 'read-config') {
    const copy = await context.readConfig(owner, name);
    return 'error' in copy ? { ok: false, error: copy.error } : { ok: true, config: copy };
  }
  const saved = await context.saveConfig(
    caller,
    owner,
    name,
    request.source ?? '',
    request.expect ?? '',
  );
  context.audit(caller, { ...request, id: target.id }, saved.ok ? 'ok' : `failed: ${saved.error}`);
  return saved;
}
