import { Controller } from '@nestjs/common';
import { SessionJoined, SessionLeft, SessionSubjects, SessionUpdated } from '#libs/contracts/index.js';
import { OnSubject } from '#libs/nats/on-subject.decorator.js';
import { PresenceService } from './presence.service.js';

/** Session events, read from presence's durable JetStream consumer (NatsEventsTransport). */
@Controller()
export class SessionEventsController {
  constructor(private readonly presence: PresenceService) {}

  @OnSubject(SessionSubjects.anyJoined, SessionJoined)
  joined(e: SessionJoined) {
    return this.presence.joined(e);
  }

  @OnSubject(SessionSubjects.anyLeft, SessionLeft)
  left(e: SessionLeft) {
    return this.presence.left(e);
  }

  @OnSubject(SessionSubjects.anyUpdated, SessionUpdated)
  updated(e: SessionUpdated) {
    return this.presence.updated(e);
  }
}
