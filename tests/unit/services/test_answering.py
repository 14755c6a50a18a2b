from bot.domain import AnswerKind
from bot.services.answering import QuestionAnswering, offers_for_topic


def test_offers_follow_the_topic():
    assert offers_for_topic("劳动纠纷")[:2] == ("apply_legal_aid", "book_mediation")
    assert offers_for_topic("知识产权") == ("request_human", "continue_asking")
    assert offers_for_topic(None)[-2:] == ("request_human", "continue_asking")


def test_a_named_article_is_quoted(fake_services):
    answer = QuestionAnswering(fake_services.retriever, None, fake_services.laws).answer("民法典第一千零七十九条是什么")
    assert answer.kind is AnswerKind.CONFIDENT and [a.number for a in answer.articles] == [1079]


def test_questions_go_to_retrieval(fake_services, knowledge):
    entry = knowledge.entries[5]
    answer = QuestionAnswering(fake_services.retriever, None, fake_services.laws).answer(entry.question)
    assert answer.articles == () and answer.hits[0].entry.id == entry.id
