"""Every port the local stack will listen on, checked before anything starts: a busy one is
one line naming it and the variable that moves it, never a traceback from deep in a server."""

from __future__ import annotations

from local.emulator import EmulatorError, port_is_free
from local.settings import HOST, LocalSettings


def wanted(ls: LocalSettings) -> list[tuple[int, str, str]]:
    """(port, what listens there, the variable that sets it) for every listener of the stack."""
    from chalicelib.smtp.settings import settings as smtp_settings

    smtp = smtp_settings()
    ports = [(ls.api_port, "the API", "POSTLINE_API_PORT"), (ls.aws_port, "the AWS emulator", "POSTLINE_AWS_PORT"),
             (smtp.port, "SMTP (transactional, STARTTLS)", "POSTLINE_SMTP_PORT"),
             (smtp.bulk_port, "SMTP (bulk, STARTTLS)", "POSTLINE_BULK_SMTP_PORT"),
             (smtp.tls_port, "SMTP (transactional, implicit TLS)", "POSTLINE_SMTP_TLS_PORT"),
             (smtp.bulk_tls_port, "SMTP (bulk, implicit TLS)", "POSTLINE_BULK_SMTP_TLS_PORT")]
    return [p for p in ports if p[0] > 0]  # 0 turns an SMTP listener off


def check_free(ls: LocalSettings) -> None:
    """Raise EmulatorError (printed as one line) for the first port that is taken or used twice,
    or if a stack already runs from the same state directory (two would corrupt its recording)."""
    from local import state

    other = state.running_pid(ls)
    if other is not None:
        raise EmulatorError(f"a local stack (pid {other}) already runs from {ls.state_dir}: stop it first, or "
                            "give this one its own POSTLINE_STATE_DIR")
    seen: dict[int, str] = {}
    for port, what, variable in wanted(ls):
        if port in seen:
            raise EmulatorError(f"{variable}={port} is also the port of {seen[port]}: choose another one")
        seen[port] = what
        if not port_is_free(HOST, port):
            raise EmulatorError(f"port {port} on {HOST} ({what}) is in use: is another local stack running? "
                                f"Stop it, or choose another port with {variable}.")
