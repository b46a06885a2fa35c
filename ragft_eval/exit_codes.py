"""The exit codes of the ``ragft-eval`` command line, one table for every command.

=====  =============  ============================================================================
code   name           meaning
=====  =============  ============================================================================
0      OK             done (and every gate passed)
1      FAILURE        the run could not be made: a server would not start, an endpoint is down...
2      INPUT          invalid input: the message names the file, line and field
3      ERROR_RATE     a system's error rate is above the suite's ``max_error_rate``
4      BUDGET_STOP    ``--max-cost``: the next call would have gone over the cap; what finished is stored
5      BATCH_PENDING  a ``batch:`` model's batch is not done after its ``wait_s``; ``--resume RUN_ID`` collects it
6      GATE_FAILED    ``ragft-eval gate``: a gate failed (the run itself was made)
7      JUDGE_DRIFT    ``ragft-eval judge drift``: a judged metric flipped beyond the judge's own noise
130    INTERRUPTED    stopped by Ctrl-C or SIGTERM (what finished is in the store; ``--resume``)
=====  =============  ============================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    INPUT = 2
    ERROR_RATE = 3
    BUDGET_STOP = 4
    BATCH_PENDING = 5
    GATE_FAILED = 6
    JUDGE_DRIFT = 7
    INTERRUPTED = 130
