"""A test SMTP server: aiosmtpd on 127.0.0.1:<port>, writing every message it accepts to
<dir>/<n>.eml as received (after `X-Envelope-From` and `X-Envelope-To` headers giving the SMTP
envelope), and beside it <dir>/<n>.json, the same message decoded by Python's own `email`
package (headers, the MIME structure, and the text and HTML parts as text), so that braid's tests
check what a mail client would read without a MIME parser of their own. A recipient whose
address starts with `nobody` is refused with 550 (permanent), as for a mailbox that does not exist.

    .venv/bin/python sink.py <port> <dir>

It prints `ready` once it listens, and runs until killed. Each file is written under a
temporary name and renamed, the `.eml` last, so a reader never sees half a message.
"""

import email
import email.policy
import itertools
import json
import os
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A mailbox that does not exist: a permanent refusal, as a real server gives one.
        if address.lower().startswith("nobody"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = next(self.counter)
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
        )
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.write(n, "json", json.dumps(decode(data, envelope)).encode("utf-8"))
        self.write(n, "eml", head.encode("ascii") + data)
        return "250 Message accepted for delivery"

    def write(self, n, ext, data):
        tmp = os.path.join(self.directory, ".%06d.%s.tmp" % (n, ext))
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(self.directory, "%06d.%s" % (n, ext)))


def decode(data, envelope):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return {
        "envelope_from": envelope.mail_from,
        "envelope_to": list(envelope.rcpt_tos),
        "from": str(msg["From"]),
        "to": str(msg["To"]),
        "subject": str(msg["Subject"]),
        "message_id": str(msg["Message-ID"]),
        "date": str(msg["Date"]),
        "content_type": msg.get_content_type(),
        "parts": [p.get_content_type() for p in msg.iter_parts()] if msg.is_multipart() else [],
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
    }


def main():
    port = int(sys.argv[1])
    directory = sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
