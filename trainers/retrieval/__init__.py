"""Retrieval targets (Tatoeba, BUCC 2018, LAReQA, Mewsli-X): evaluated, never trained.

As in X-STILTs they are scored straight after phase one, on each intermediate encoder and on the
pretrained one: ``embed`` pools sentence embeddings from one encoder layer, ``evaluators`` turns them
into each task's official scores, and ``release`` reads the benchmarks' own release files that the
hub has no scorable copy of.
"""
