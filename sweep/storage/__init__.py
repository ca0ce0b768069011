"""Where a sweep's state lives, and the rules that keep it whole: a folder on this machine, or a prefix on
shared storage (``s3://``, ``gs://``).

The lowest layer of ``sweep`` beside ``sweep.config``; it knows files, not studies.

* ``layout``: the sweep folder (config copy, manifest, Tune state, journal, results, encoders) and the
  driver's lock and lease;
* ``results``: one immutable Parquet file per trial attempt, with a versioned schema; ``compaction``
  merges a finished search's files into one; ``journal``: every report as it arrives, for crash recovery;
* ``select``: a search's best trial and step, by the protocol;
* ``store``: the checkpoint store that shares stage-one results between studies;
* ``lease``: the one lease mechanism (a note renewed by its holder, taken over once it expires) that the
  driver's lock and the store's entries share.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "CheckpointStore": "sweep.storage.store",
        "ResultsStore": "sweep.storage.results",
        "SweepDir": "sweep.storage.layout",
        "open_sweep": "sweep.storage.layout",
        "read_manifest": "sweep.storage.layout",
    },
)
__all__ = ["CheckpointStore", "ResultsStore", "SweepDir", "open_sweep", "read_manifest"]
