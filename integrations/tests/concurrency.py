"""Real concurrency for the PostgreSQL tests: threads, each with its own database connection."""

import threading

from django.db import connection


def run_at_once(target, args_list, *, timeout: float = 60):
    """One thread per args, released together by a barrier, each closing its own connection;
    returns each one's result or the error it raised, in order."""
    barrier = threading.Barrier(len(args_list))
    results: list = [None] * len(args_list)

    def run(index, args):
        try:
            barrier.wait(timeout=timeout)
            results[index] = target(*args)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, args)) for i, args in enumerate(args_list)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * timeout)
    assert not any(thread.is_alive() for thread in threads)
    return results
