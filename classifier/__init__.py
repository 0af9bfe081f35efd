"""The routing classifier: pure ML, importing nothing of the app.

normalise -> segment -> vectorise -> linear models -> calibrated probabilities, with a
versioned on-disk registry. Routing loads a ``Predictor`` and calls ``predict``.
"""
