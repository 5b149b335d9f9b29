"""Adapting models to a user's dataset: fine-tuning each framework through its own training (`zoo train`), the
training folder and its manifest (`folder`), the K-shot sample (`sampler`) and the few-shot protocol (`protocol`).

Each framework's training lives in its plugin, as ``Model.finetune(dataset, val, settings, out, log)``; zoo only
chooses what to train on, records what happened and scores the result with the same code as ``zoo run``.
"""
