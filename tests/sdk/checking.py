"""What every SDK check shares: its assertions, and the runner that keeps the tally."""


class Failed(Exception):
    """A check's assertion failed."""


def expect(cond, why):
    if not cond:
        raise Failed(why)


def expect_error(call, kind, status, code=None):
    """Runs `call`, which must raise `kind` with this HTTP status (and error code); returns it."""
    try:
        call()
    except kind as e:
        expect(e.status_code == status, f"status {e.status_code}, want {status} ({e.error_msg})")
        expect(code is None or e.error_code == code, f"error_code {e.error_code!r}, want {code!r}")
        return e
    except Exception as e:  # noqa: BLE001 - reported as the wrong outcome
        raise Failed(f"raised {type(e).__name__}: {e}, want {kind.__name__} {status}") from e
    raise Failed(f"succeeded, want {kind.__name__} {status}")


class Runner:
    """Runs named checks, keeps the tally; a check that raises is a failure, not a crash."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn, *needs):
        """Runs fn() and returns its result, or None when it failed or a prerequisite is None."""
        if any(n is None for n in needs):
            return self._fail(name, "skipped: an earlier check it depends on failed")
        try:
            result = fn()
        except Failed as e:
            return self._fail(name, str(e))
        except Exception as e:  # noqa: BLE001 - an unexpected SDK error fails the check
            return self._fail(name, f"{type(e).__name__}: {e}")
        self.passed += 1
        print(f"ok  {name}", flush=True)
        return True if result is None else result

    def _fail(self, name, why):
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)
        return None
