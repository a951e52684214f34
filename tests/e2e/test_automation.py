"""The automation toolkit against the built binary: a one-second schedule firing for real,
inbound webhooks signed with HMAC-SHA256 by Python's own hmac module (accepted, repeated,
forged, another tenant's path, stale, oversized), and a delivery acknowledged with 202
that survives the server being killed with SIGKILL before its run's first step."""

import hashlib
import hmac
import json
import signal
import subprocess
import time

import httpx2 as httpx

from conftest import _serve, _stop

NAP = {"name": "Nap", "steps": [{"id": "nap", "kind": "sleep", "seconds": 0}]}


def _sign(secret, body, at=None):
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"x-timestamp": stamp, "x-signature": f"sha256={digest}", "content-type": "application/json"}


def _wait(check, what, timeout=30):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _run(client, execution_id):
    return client.get(f"/api/v1/workflows/executions/{execution_id}").json()


def _succeeded(client, execution_id):
    return _wait(lambda: _run(client, execution_id)["status"] == "succeeded", f"run {execution_id}")


def test_a_one_second_schedule_fires_for_real(binary, data_dir):
    process, base = _serve(binary, data_dir, "workflows", "automation")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.put("/api/v1/workflows/templates/nap", json=NAP).status_code == 200
            made = client.post("/api/v1/automation/schedules", json={
                "name": "every-second", "timing": {"every_secs": 1}, "target": {"workflow": "nap"}})
            assert made.status_code == 201, made.text
            assert len(made.json()["next_fire_times"]) == 5

            def fired_twice():
                schedule = client.get("/api/v1/automation/schedules").json()["schedules"][0]
                started = [f for f in schedule["last_firings"] if f["status"] == "started"]
                return started if len(started) >= 2 else None

            started = _wait(fired_twice, "two firings")
            assert len({f["execution_id"] for f in started}) == len(started)
            for firing in started:
                _succeeded(client, firing["execution_id"])
            paused = client.post("/api/v1/automation/schedules/every-second/pause")
            assert paused.status_code == 200 and paused.json()["paused"] is True
            bad = client.post("/api/v1/automation/schedules", json={
                "name": "bad", "timing": {"cron": "61 * * * *"}, "target": {"workflow": "nap"}})
            assert bad.status_code == 422, bad.text
            assert "timing.cron" in bad.json()["detail"]
    finally:
        _stop(process)


def test_signed_webhooks_over_http(binary, data_dir, tmp_path):
    config = tmp_path / "hooks.toml"
    config.write_text("[automation]\nmax_webhook_body_bytes = 2048\n")
    process, base = _serve(binary, data_dir, "workflows", "automation", extra=("--config", str(config)))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.put("/api/v1/workflows/templates/nap", json=NAP).status_code == 200
            made = client.post("/api/v1/automation/webhooks", json={"name": "tickets", "target": {"workflow": "nap"}})
            assert made.status_code == 201, made.text
            hook = made.json()
            secret, path = hook["secret"], hook["path"]
            assert secret.startswith("whsec_")
            listed = client.get("/api/v1/automation/webhooks").text
            assert secret not in listed

            body = json.dumps({"ticket": 42}).encode()
            headers = {**_sign(secret, body), "x-delivery-id": "delivery-1"}
            # No credential: the signature is the proof.
            with httpx.Client(base_url=base, timeout=30) as stranger:
                accepted = stranger.post(path, content=body, headers=headers)
                assert accepted.status_code == 202, accepted.text
                execution_id = accepted.json()["execution_id"]
                again = stranger.post(path, content=body, headers=headers)
                assert again.status_code == 200 and again.json()["execution_id"] == execution_id
                secret_path = stranger.post(hook["secret_path"], content=body, headers=headers)
                assert secret_path.json()["execution_id"] == execution_id

                forged = stranger.post(path, content=body, headers=_sign("whsec_guess", body))
                elsewhere = stranger.post("/hooks/globex/tickets", content=body, headers=headers)
                unsigned = stranger.post(path, content=body, headers={"content-type": "application/json"})
                for refused in (forged, elsewhere, unsigned):
                    assert refused.status_code == 404, refused.text
                    assert refused.headers["content-type"].startswith("application/problem+json")
                assert forged.json()["detail"] == elsewhere.json()["detail"] == unsigned.json()["detail"]

                stale = stranger.post(path, content=body, headers=_sign(secret, body, at=int(time.time()) - 3600))
                assert stale.status_code == 401, stale.text
                assert "X-Timestamp" in stale.json()["detail"]
                big = json.dumps({"padding": "x" * 4096}).encode()
                oversized = stranger.post(path, content=big, headers=_sign(secret, big))
                assert oversized.status_code == 413, oversized.text
            _succeeded(client, execution_id)
    finally:
        _stop(process)


def test_an_acknowledged_delivery_survives_a_kill_before_its_first_step(binary, data_dir, tmp_path):
    """The first server records runs but runs no steps, so the kill is sure to come
    between the 202 and the run's first step; the next server runs it."""
    idle = tmp_path / "idle.toml"
    idle.write_text("[workflows]\nrun_steps = false\n")
    process, base = _serve(binary, data_dir, "workflows", "automation", extra=("--config", str(idle)))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.put("/api/v1/workflows/templates/nap", json=NAP).status_code == 200
            hook = client.post("/api/v1/automation/webhooks", json={"name": "orders", "target": {"workflow": "nap"}}).json()
            body = b'{"order": 7}'
            accepted = client.post(hook["path"], content=body, headers=_sign(hook["secret"], body))
            assert accepted.status_code == 202, accepted.text
            execution_id = accepted.json()["execution_id"]
            assert _run(client, execution_id)["steps"][0]["status"] != "succeeded"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    process, base = _serve(binary, data_dir, "workflows", "automation")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            _succeeded(client, execution_id)
            run = _run(client, execution_id)
            assert run["input"] == {"order": 7}
    finally:
        _stop(process)


def test_email_notifications_reach_a_real_smtp_server_with_a_rendered_prompt(binary, data_dir, tmp_path):
    """aiosmtpd (from PyPI) receives what `notify` sends through an email channel; the
    message is a prompt template rendered with the call's arguments."""
    from aiosmtpd.controller import Controller
    import socket

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 Message accepted"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    config = tmp_path / "mail.toml"
    config.write_text('[automation]\nallow = ["127.0.0.0/8"]\n')
    process, base = _serve(binary, data_dir, "prompts", "workflows", "automation", extra=("--config", str(config)))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            saved = client.post("/api/v1/prompts", json={
                "name": "breach", "arguments": [{"name": "ticket", "required": True}],
                "body": "Ticket {{ ticket }} breached its SLA."})
            assert saved.status_code in (200, 201), saved.text
            refused = client.post("/api/v1/automation/channels", json={
                "name": "leaky", "kind": "email", "url": f"smtp://127.0.0.1:{port}", "tls": "none",
                "from": "tideway@example.com", "to": ["ops@example.com"],
                "username": "ops", "password": "secret"})
            assert refused.status_code == 422 and "tls" in refused.json()["detail"], refused.text
            made = client.post("/api/v1/automation/channels", json={
                "name": "ops-mail", "kind": "email", "url": f"smtp://127.0.0.1:{port}", "tls": "none",
                "from": "tideway@example.com", "to": ["ops@example.com", "lead@example.com"]})
            assert made.status_code == 201, made.text
            queued = client.post("/api/v1/automation/notify", json={
                "channel": "ops-mail", "subject": "SLA breach",
                "template": "prompts_breach", "arguments": {"ticket": "42"}})
            assert queued.status_code == 202, queued.text
            delivery_id = queued.json()["id"]

            def delivered():
                for delivery in client.get("/api/v1/automation/deliveries").json()["deliveries"]:
                    if delivery["id"] == delivery_id and delivery["status"] != "pending":
                        return delivery
                return None

            delivery = _wait(delivered, "the email delivery")
            assert delivery["status"] == "delivered", delivery
            assert delivery["last_status"] == 250
        assert len(inbox.messages) == 1
        envelope = inbox.messages[0]
        assert envelope.mail_from == "tideway@example.com"
        assert sorted(envelope.rcpt_tos) == ["lead@example.com", "ops@example.com"]
        text = envelope.content.decode()
        assert "Subject: SLA breach" in text
        assert "Ticket 42 breached its SLA." in text
    finally:
        _stop(process)
        smtp.stop()


def test_the_automation_command_lists_runs_and_pauses(binary, data_dir):
    process, base = _serve(binary, data_dir, "workflows", "automation")

    def command(*args):
        done = subprocess.run([binary, "automation", *args, "--url", base],
                              capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr

    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.put("/api/v1/workflows/templates/nap", json=NAP).status_code == 200
            made = client.post("/api/v1/automation/schedules", json={
                "name": "nightly", "timing": {"cron": "0 2 * * *", "time_zone": "Europe/Paris"},
                "target": {"workflow": "nap"}})
            assert made.status_code == 201, made.text

            code, out, err = command("list")
            assert code == 0, err
            line = next(line for line in out.splitlines() if line.startswith("schedule"))
            assert "nightly" in line and "running" in line and "never fired" in line, out
            assert "-> workflow nap" in line, out

            code, out, err = command("run", "nightly")
            assert code == 0, err
            execution = out.strip()
            _succeeded(client, execution)
            code, out, err = command("list")
            assert f"last started {execution}" in out, out

            code, out, err = command("pause", "schedule", "nightly")
            assert code == 0 and out.strip() == "nightly paused", (out, err)
            schedule = client.get("/api/v1/automation/schedules").json()["schedules"][0]
            assert schedule["paused"] is True
            code, out, err = command("resume", "schedule", "nightly")
            assert code == 0 and out.strip() == "nightly running", (out, err)

            code, out, err = command("trigger", "nightly", "--input", '{"note": "by hand"}')
            assert code == 0, err
            _succeeded(client, out.strip())

            # Refusals come back in the server's words, with a failing exit code.
            code, out, err = command("run", "no-such-schedule")
            assert code != 0 and "no-such-schedule" in err, (out, err)
            code, out, err = command("trigger", "nightly", "--input", "[1]")
            assert code != 0 and "--input must be a JSON object" in err, (out, err)
    finally:
        _stop(process)
