import type { ClusterUser, HubEvent } from "../../lib/server/backplane.ts";
import { Hub as BatchingHub, type HubMember, type RenameResult } from "../../lib/server/hub.ts";
import type { ServerMessageInit } from "../../lib/protocol/codec.ts";

/**
 * A Hub that sends what each call produced before returning, rather than on its flush
 * timer, so a test can look at the members right after a call. The batching itself is
 * tested on the real Hub.
 */
export class Hub extends BatchingHub {
  override join(member: HubMember): void {
    super.join(member);
    this.flush();
  }

  override leave(member: HubMember): void {
    super.leave(member);
    this.flush();
  }

  override rename(member: HubMember, nickname: string): RenameResult | Promise<RenameResult> {
    const result = super.rename(member, nickname);
    this.flush();
    return result instanceof Promise
      ? result.then((answer) => {
        this.flush();
        return answer;
      })
      : result;
  }

  override broadcast(message: ServerMessageInit): void {
    super.broadcast(message);
    this.flush();
  }

  override remote(event: HubEvent): void {
    super.remote(event);
    this.flush();
  }

  override serverUsers(node: number, users: ClusterUser[]): void {
    super.serverUsers(node, users);
    this.flush();
  }

  override serverGone(node: number): void {
    super.serverGone(node);
    this.flush();
  }

  override nicknameLost(sessionId: bigint): void {
    super.nicknameLost(sessionId);
    this.flush();
  }
}
