"""Call metrics, one module per family: ``pacing`` (turn-taking, gaps, overlaps, events),
``prosody`` (pitch, loudness, speech rate), ``emotion`` (call-level emotion); ``catalog``
describes every key (label, unit, direction) for the pages, the report and the QA rules."""
