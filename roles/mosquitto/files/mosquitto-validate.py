"""Validate a Mosquitto configuration by starting a broker on it (Mosquitto 2.0 has no test flag).

Every listener is moved to a free port on 127.0.0.1, so the running broker is not disturbed; the
broker then loads the listener's certificate, key, CA file, CRL and cipher settings as the real
one would. A broker still running after two seconds has accepted the configuration.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def main(path):
    lines = []
    with open(path) as handle:
        for line in handle.read().splitlines():
            if re.match(r"^\s*listener\s+\d+", line):
                line = "listener %d 127.0.0.1" % free_port()
            lines.append(line)
    fd, candidate = tempfile.mkstemp(suffix=".conf")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(candidate, 0o644)
        proc = subprocess.Popen(["mosquitto", "-c", candidate], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            output, _unused = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.communicate()
            return 0
        sys.stderr.write("mosquitto refused the configuration %s:\n%s" % (path, output.decode("utf-8", "replace")))
        return 1
    finally:
        os.unlink(candidate)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
