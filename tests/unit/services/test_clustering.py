"""Grouping unanswered questions (bot/services/clustering.py)."""

from __future__ import annotations

import numpy as np

from bot.services.clustering import group


def test_close_profiles_share_a_group_and_an_empty_one_stays_alone():
    vectors = np.array([[1, 0, 0], [0.95, 0.31, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float32)
    vectors[1] /= np.linalg.norm(vectors[1])
    groups = group(vectors, similarity=0.9)
    assert groups[0] == [0, 1] and sorted(groups[1:]) == [[2], [3]]


def test_below_the_similarity_nothing_is_joined():
    vectors = np.eye(4, dtype=np.float32)
    assert sorted(map(len, group(vectors, similarity=0.5))) == [1, 1, 1, 1]
