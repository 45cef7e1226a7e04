"""What scripts/soak.sh and scripts/soak-faults.sh watch of the bizpipe run
they start: its log's end when they fail, and its memory, threads, file
descriptors and database connections while it runs. Their Python imports it from scripts/ (the
repository's root is their working directory)."""
import os
import subprocess
import sys


def watch(p, log, log_path):
    """Returns fail(why), which prints the end of the server's log (written
    to log, open at log_path) and exits, and status(), the server's resident
    memory in KiB, threads and open descriptors (fail if it exited)."""

    def fail(why):
        log.close()
        sys.stdout.write(open(log_path).read()[-4000:])
        sys.exit("FAIL: " + why + "; the server's log (its end) is above")

    def status():
        if p.poll() is not None:
            fail("the server exited early, with %d" % p.returncode)
        fields = dict(l.split(":", 1) for l in open("/proc/%d/status" % p.pid) if ":" in l)
        return int(fields["VmRSS"].split()[0]), int(fields["Threads"]), len(os.listdir("/proc/%d/fd" % p.pid))

    return fail, status


def connections(psql):
    """The connections to the database soak (a PostgreSQL message box,
    BIZPIPE_VAR_database_url), as a column; "" without psql (SQLite)."""
    if not psql:
        return ""
    q = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'soak'"
    return " %5s" % subprocess.run([psql, "-At", "-c", q, os.environ["BIZPIPE_VAR_database_url"]],
                                   capture_output=True, text=True).stdout.strip()
