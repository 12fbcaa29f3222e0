"""Per-turn speech emotion: models, scoring and call-level emotion metrics.

Importing this package is cheap: torch is imported only when a model is
loaded or trained. Public API::

    model = load_model("open")                       # emotion-open-v2 (Whisper-encoder heads); "multi" (CC BY-NC-SA 4.0),
                                                     # "emotion-open-v1" / "emotion-multi-v1" (the CNN models) or a folder
    probs = model.predict(clips, 16000, speakers=["a", "a", "b"])    # (n, 4) in LABELS order
    arousal, valence = arousal_valence(probs)        # each (n,), in [-1, 1]
    rows = score_turns(model, clips, 8000, speakers) # one dict or None per turn
    metrics = call_emotion_metrics(turn_rows)        # SPEC's per-call keys

See docs/emotion.md and the model cards in analyzer/models/.
"""

from __future__ import annotations

from .features import EmotionInputError
from .model import EmotionModel, ModelError, load_model
from ..metrics.emotion import call_emotion_metrics  # noqa: F401 - re-exported; the metric family lives in analyzer/metrics
from .model import LABELS
from .scoring import arousal_valence, score_turns

__all__ = [
    "LABELS", "EmotionModel", "EmotionInputError", "ModelError", "load_model", "arousal_valence",
    "score_turns", "call_emotion_metrics",
]
