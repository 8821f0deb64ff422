"""`atom serve` as the end-to-end tests drive it: started in the background with its log in a
file (a pipe nobody reads would fill and stall it), its port read from the log, stopped with
SIGTERM (which must give exit code 0)."""
import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest


class AtomServer:
    def __init__(self, atom, name, *args, **popen_kwargs):
        """Starts `atom serve --port 0 --served-model-name NAME ARGS...` and waits until it
        serves; raises with the log's path if it does not."""
        log = tempfile.NamedTemporaryFile(prefix=f"atom-{name}-", suffix=".log", delete=False)
        self.log_path = log.name
        self.process = subprocess.Popen(
            [atom, "serve", "--port", "0", "--served-model-name", name, *args],
            stdout=log, stderr=subprocess.STDOUT, **popen_kwargs)
        deadline = time.time() + 120
        while time.time() < deadline:
            with open(self.log_path) as f:
                m = re.search(rf"serving {re.escape(name)} on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"atom serve did not start; log: {self.log_path}")

    def stop(self):
        """SIGTERM; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def parse_args():
    """(--atom/--data arguments, the rest for unittest)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--atom", required=True)
    parser.add_argument("--data", required=True)
    return parser.parse_known_args()


def run_tests(rest, servers):
    """Runs this module's unittest cases, then stops `servers`; exits non-zero when a test failed
    or a server did not exit cleanly on SIGTERM."""
    try:
        result = unittest.main(argv=[sys.argv[0], *rest], verbosity=2, exit=False).result
    finally:
        codes = [s.stop() for s in servers]
    if any(codes):
        print(f"atom serve exit codes after SIGTERM: {codes}")
        sys.exit(1)
    sys.exit(0 if result.wasSuccessful() else 1)
