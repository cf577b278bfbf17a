"""The `postgres` superuser's password: the reference's rules, generation, and the SCRAM-SHA-256 verifier that is
all clickplane (and PostgreSQL) keeps of it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import unicodedata

from clickplane.kit.errors import BadRequest

# What PostgreSQL itself uses for a new verifier (scram_iterations' default).
SCRAM_ITERATIONS = 4096
_SALT_BYTES = 16
# A generated password: 24 characters of letters, digits and `_-` (as the real service's are), with each class the
# rules require present.
_GENERATED_LENGTH = 24
_ALPHABET = string.ascii_letters + string.digits + "_-"
_RULES = ((re.compile(r"[a-z]"), "a lowercase letter"), (re.compile(r"[A-Z]"), "an uppercase letter"),
          (re.compile(r"[0-9]"), "a digit"))


def check_password(password: str) -> None:
    """BadRequest naming every rule the password breaks."""
    missing = [name for pattern, name in _RULES if not pattern.search(password)]
    if len(password) < 12:
        missing.insert(0, "at least 12 characters")
    if missing:
        raise BadRequest(f"password must have {', '.join(missing)}; choose another or omit it to have one "
                         "generated")


def generate_password() -> str:
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(_GENERATED_LENGTH))
        if all(pattern.search(password) for pattern, _ in _RULES):
            return password


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, 7677), the form PostgreSQL stores and
    accepts in place of a password. The password is normalized as PostgreSQL does for plain ASCII and NFKC text
    (its SASLprep leaves ASCII alone); a password that SASLprep would refuse is used as it is, as PostgreSQL does."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    normalized = password if password.isascii() else unicodedata.normalize("NFKC", password)
    salted = hashlib.pbkdf2_hmac("sha256", normalized.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    encode = base64.b64encode
    return (f"SCRAM-SHA-256${iterations}:{encode(salt).decode()}"
            f"${encode(stored_key).decode()}:{encode(server_key).decode()}")


def verifies(verifier: str, password: str) -> bool:
    """Whether `password` is the one `verifier` was made from."""
    try:
        head, keys = verifier.split("$", 2)[1:]
        iterations, salt = head.split(":")
        recomputed = scram_verifier(password, base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(recomputed.rsplit("$", 1)[1], keys)
