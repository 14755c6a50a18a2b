import numpy as np

from bot.domain import TOPICS
from bot.retrieval.embedding import HashingEmbedder
from bot.retrieval.topics import TopicClassifier, evaluate, read_examples
from bot.settings import PROJECT_ROOT

TOPIC_DIR = PROJECT_ROOT / "knowledge_base" / "topics"


def test_training_data_covers_all_topics_and_is_split():
    train, test = read_examples(TOPIC_DIR / "train.jsonl"), read_examples(TOPIC_DIR / "test.jsonl")
    assert {label for _, label in train} == set(TOPICS) == {label for _, label in test}
    assert not {t for t, _ in train} & {t for t, _ in test}


def test_train_save_load_predict(tmp_path):
    embedder = HashingEmbedder()
    examples = read_examples(TOPIC_DIR / "train.jsonl")
    model = TopicClassifier.train(examples, embedder)
    model.save(tmp_path, len(examples))
    loaded = TopicClassifier.load(tmp_path, embedder)
    prediction = loaded.predict(["老板拖欠工资三个月不给"])[0]
    assert len(prediction.scores) == 20
    assert abs(sum(s.score for s in prediction.scores) - 1) < 1e-4
    assert prediction.best.label == "劳动纠纷"
    report = evaluate(loaded, read_examples(TOPIC_DIR / "test.jsonl"))
    assert report["n"] >= 400 and report["accuracy"] > 0.3  # hashing features only; the real model is in the bench


def test_evaluation_reports_how_sure_it_was(fake_embedder):
    model = TopicClassifier.train(read_examples(TOPIC_DIR / "train.jsonl"), fake_embedder)
    report = evaluate(model, read_examples(TOPIC_DIR / "test.jsonl"))
    assert 0.0 < report["confident_share"] < 1.0
    assert report["confident_accuracy"] > report["unsure_accuracy"]  # being unsure means something


def test_predict_gives_the_probabilities_of_the_weights_it_was_trained_with():
    """``predict`` multiplies by a float32 copy of the weights made once: the same probabilities."""
    model = TopicClassifier.train(read_examples(TOPIC_DIR / "train.jsonl"), HashingEmbedder())
    texts = ["老板拖欠工资三个月不给", "邻居家的树倒下来砸坏了我的屋顶", "离婚以后孩子的抚养费怎么算"]
    logits = np.asarray(model._features(texts) @ model.coef.astype(np.float64).T) + model.intercept
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    for row, prediction in zip(expected, model.predict(texts), strict=True):
        got = {score.label: score.score for score in prediction.scores}
        assert np.allclose([got[label] for label in model.labels], row, atol=1e-5)
        assert prediction.best.label == model.labels[int(row.argmax())]
