/* jr_notify: readiness and status for systemd (Type=notify), sd_notify's protocol.
 *
 * systemd passes $NOTIFY_SOCKET (a filesystem or abstract "@name" AF_UNIX datagram
 * socket) to a Type=notify service and waits for "READY=1" before it considers the
 * service started. The protocol is one datagram of newline-separated VAR=value
 * assignments (sd_notify(3)); it is spoken here directly, so that jailrun needs no
 * libsystemd at run time. Without $NOTIFY_SOCKET (not under systemd, `jailrun serve` in a
 * terminal, the tests) every call does nothing and returns 0.
 *
 * What serve says:
 *   jr_notify_ready("judging, 4 slots")  once the spool is open and replayed into the
 *                                       producer, the executors are up and the Kafka
 *                                       consumer exists: systemctl start returns then
 *   jr_notify_status("...")             any time (systemctl status shows it)
 *   jr_notify_stopping()                on SIGTERM, before finishing in-flight work
 *   jr_notify_reloading()/ready again   not used: SIGHUP only reopens logs */
#pragma once

#include "error.h"

/* Send `state` ("READY=1\nSTATUS=..."). 0 when sent or when there is no NOTIFY_SOCKET. */
int jr_notify(const char *state, jr_error *e);
int jr_notify_ready(const char *status, jr_error *e);
int jr_notify_status(const char *status, jr_error *e);
int jr_notify_stopping(jr_error *e);
