"""Localization through time: each detector's boxes through one fixed tracker, scored with TrackEval (``zoo track``).

`video` reads MOTChallenge sequences (and `shapes` draws ``moving-shapes``), `tracker` is the library's ByteTrack
behind one call, `run` makes one row's tracks, `metrics` scores them with TrackEval, `protocol` runs it all and
writes the run folder, `report` its page.
"""
