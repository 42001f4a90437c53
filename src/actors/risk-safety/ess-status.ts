/**
 * What the ESS routes (`ess-routes.ts`, `ess-flatten.ts`) see of the ESS
 * service: its status and the operations they call. Declared apart from the
 * service so the routes depend on this shape, not on the service's module.
 */
import type { EssState } from '../../events/catalog.js';
import type { EssResetResult } from './ess-outbox.js';
import type { EssProjection } from './ess-projection.js';

/** What `GET /ess` answers: the ESS as this process's actor has it. */
export interface EssStatus {
  readonly state: EssState;
  readonly cooldownUntil: string | null;
  readonly remainingCooldownMs: number;
  readonly lastReset: EssResetResult | null;
}

// The answers of `POST /ess/trip` (`ess-trip.ts` chooses one).

/** Where a trip request is recorded when the route answers without having applied it. */
export type TripRecordedIn = 'redis' | 'disk-buffer' | 'memory';

/** The route's answer: an HTTP status and its body. */
export type TripAnswer =
  | { readonly code: 200; readonly body: { readonly applied: true; readonly requestId: string } & EssStatus }
  | {
      readonly code: 202;
      readonly body: {
        readonly applied: false;
        readonly requestId: string;
        readonly recordedIn: TripRecordedIn;
        readonly message: string;
      };
    }
  | {
      readonly code: 503;
      readonly body: {
        readonly error: 'trip_not_recorded';
        readonly applied: false;
        readonly requestId: string;
        readonly message: string;
      };
    };

/** The ESS operations the routes use (implemented by `EssService`). */
export interface EssControl {
  /** Throws QT_ACTOR_NOT_STARTED before the actor runs. */
  status(): EssStatus;
  /** The projection in Redis within a deadline (QT_REDIS_UNAVAILABLE otherwise); null when never written. */
  projected(): Promise<EssProjection | null>;
  /** The committed state, within a deadline. */
  committedState(): Promise<EssState>;
  /** Resolves when Redis answers a PING within a deadline. */
  reachable(): Promise<void>;
  requestTrip(operator: string, reason: string, correlationId?: string): Promise<TripAnswer>;
  reset(operator: string, reason: string, correlationId?: string): Promise<EssResetResult>;
}
