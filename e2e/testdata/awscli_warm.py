"""A warm AWS CLI for the end-to-end tests.

The AWS CLI spends about a second and a half of CPU on each call before it sends a byte:
starting Python, importing botocore and awscli, and parsing the service models' JSON. The
end-to-end tests make thousands of calls, two at a time on a two-core machine, so that start-up
was most of the suite's time. This program pays it once.

  awscli_warm.py serve SOCKET   imports the AWS CLI, parses the models it will need, listens on
                                the Unix socket SOCKET and prints "ready"; then, for each
                                connection, forks a child that runs one command.
  awscli_warm.py call SOCKET AWS ARGS...
                                is `aws ARGS...`: it hands the server its standard input, output
                                and error (the descriptors themselves, over the socket), its
                                working directory and its environment, and exits with the
                                command's status. When no server answers on SOCKET, it runs
                                AWS (the installed CLI) instead.

The child runs the CLI's own entry point (awscli.clidriver.main) with sys.argv, the
environment and the working directory of the call, writing to the caller's descriptors. So
each call is the real CLI parsing, signing, sending and printing as a fresh `aws` would; what
the calls share is only what the parent loaded before forking: modules, and botocore's parsed
models (one cache for every botocore Loader, which is safe because every call reads the same
installed models: no test sets AWS_DATA_PATH). Calls run concurrently, one process each.
"""

import gc
import json
import os
import signal
import socket
import struct
import sys

HEADER = struct.Struct("!I")


def serve(path):
    import random

    import awscli.clidriver
    import awscli.handlers  # the CLI's plugins: imported by every call otherwise
    import botocore.loaders
    import botocore.session

    shared = {}
    loader_init = botocore.loaders.Loader.__init__

    def init(self, *args, **kwargs):
        loader_init(self, *args, **kwargs)
        self._cache = shared  # instance_cache's store: parsed models, listings, rulesets

    botocore.loaders.Loader.__init__ = init

    # Parse what the tests' calls use: the command table and the models and endpoint rules of
    # the services they call. Nothing here talks to the network.
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            awscli.clidriver.create_clidriver().main(["ec2", "describe-vpcs", "--generate-cli-skeleton"])
        finally:
            sys.stdout = stdout
    session = botocore.session.get_session()
    for service in ("ec2", "sts", "s3", "logs", "cloudtrail", "events", "iam"):
        try:
            session.create_client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                                  aws_access_key_id="warm", aws_secret_access_key="warm")
        except Exception:  # a service this CLI lacks is parsed on first use instead
            pass

    # A child forked from a process with other threads may find a lock held by one of them,
    # forever: Debian's aws-cli v2 starts threads of its own (its calls hung here). Such a
    # CLI is not served warm; the tests run it cold.
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        sys.exit("awscli_warm: the CLI left %d threads running; forking it is not safe" % threads)

    # What was loaded stays put: the children's collector leaves it alone, so they neither spend
    # time on it nor copy its pages.
    gc.collect()
    gc.freeze()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    parent = os.getppid()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while os.getppid() == parent:  # the test binary that started it is gone: so is it
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the CLI may wait for children
            random.seed()  # not the parent's sequence, shared by every child
            run(conn, awscli.clidriver.main)
        conn.close()


def recv_exact(conn, n, data=b""):
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("caller went away")
        data += chunk
    return data


def run(conn, main):
    """Runs one call in this (forked) process and never returns."""
    status = 255
    try:
        head, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
        (size,) = HEADER.unpack(recv_exact(conn, HEADER.size, head))
        call = json.loads(recv_exact(conn, size))
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        os.chdir(call["cwd"])
        os.environ.clear()
        os.environ.update(call["env"])
        sys.argv = ["aws"] + call["args"]
        try:
            status = main()
        except SystemExit as e:
            status = e.code
        if status is None:
            status = 0
        elif not isinstance(status, int):
            sys.stderr.write(str(status) + "\n")
            status = 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        try:
            conn.sendall(str(status).encode())
        finally:
            os._exit(0)


def call(path, cold, args):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:  # the server is gone: the call is still made, cold
        os.execv(cold, [cold] + args)
    body = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [HEADER.pack(len(body))], [0, 1, 2])
    conn.sendall(body)
    reply = b""
    while True:
        chunk = conn.recv(64)
        if not chunk:
            break
        reply += chunk
    if not reply:
        sys.stderr.write("aws (warm): the call ended without a status\n")
        return 255
    return int(reply)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "call":
        sys.exit(call(sys.argv[2], sys.argv[3], sys.argv[4:]))
    else:
        sys.exit("usage: awscli_warm.py serve SOCKET | call SOCKET AWS ARGS...")
