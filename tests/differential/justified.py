"""The differences between the real apiserver and the simulated cluster that we keep, each with
its reason (mirrored in docs/sim.md, "Measured against a real apiserver"). Any difference not
covered here fails the suite."""

from __future__ import annotations

from .compare import Justified

JUSTIFIED: list[Justified] = [
    Justified(
        "pod-create-bad-json",
        "body.message",
        "The JSON parser's own words after 'json parse error:' (Go's encoding/json says "
        "'unexpected end of JSON input', Python's json another sentence); the rest of the "
        "message, reason and code are the apiserver's.",
    ),
    Justified(
        "pod-list-label-bad",
        "body.message",
        "The label-selector parser's token-level wording (apimachinery's lexer: \"found '', "
        "expected: ',' or ')'\"); code 400 and reason BadRequest are the same.",
    ),
    Justified(
        "pod-strategic-env-forbidden",
        "body*message",
        "The apiserver appends a go-cmp diff of the old and new PodSpec to 'pod updates may "
        "not change fields other than ...'; the sim sends the sentence without the diff.",
    ),
    Justified(
        "pod-watch-old-rv",
        "events",
        "History retention: a real apiserver forgets resourceVersions at each etcd compaction "
        "(every 5 minutes), after which a watch from an old one gets the ERROR 410 event; the "
        "sim keeps the last 5000 changes (history_limit, settable through /_sim/faults) and "
        "replays them. Which RVs are expired depends on the cluster's age; the ERROR event's "
        "shape is the same (tests/sim/test_watch.py).",
    ),
]
