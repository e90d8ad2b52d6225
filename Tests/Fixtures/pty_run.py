"""Runs a command on a pseudo-terminal, as a user's shell would: its stdin, stdout and stderr are all the
terminal. Copies every byte the command writes to the terminal to this script's stdout, unchanged, and exits
with the command's exit code (128 + N when signal N ended it).

    python3 pty_run.py PROGRAM [ARGUMENT...]
"""
import os
import pty
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])

received = bytearray()
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:  # EIO: every process holding the terminal has closed it
        break
    if not chunk:
        break
    received += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(bytes(received))
sys.stdout.flush()
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
