"""Token requests for scripts/perf/jwt-cost.sh: `send(port, mode, count, first_user, secret)`
sends `count` POST /api/queue/token requests on one keep-alive connection to 127.0.0.1:port,
each for a new user (from `first_user`), each carrying that user's HS256 JWT (in both modes,
so the client's side is the same), and fails unless every answer is 201."""

import base64
import hashlib
import hmac
import http.client
import json
import time


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(secret: str, sub: int) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": str(sub), "exp": int(time.time()) + 3600}).encode())
    signed = f"{header}.{claims}".encode()
    signature = _b64(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    return f"{header}.{claims}.{signature}"


def send(port, mode, count, first_user, secret):
    port, count, first_user = int(port), int(count), int(first_user)
    requests = [
        (json.dumps({"userId": user, "concertId": 1}), hs256(secret, user))
        for user in range(first_user, first_user + count)
    ]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for body, jwt in requests:
        connection.request(
            "POST",
            "/api/queue/token",
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {jwt}"},
        )
        answer = connection.getresponse()
        text = answer.read()
        if answer.status != 201:
            raise SystemExit(f"{mode}: {answer.status} {text[:200]!r}")
    connection.close()
