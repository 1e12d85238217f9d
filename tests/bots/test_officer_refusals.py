"""A service's refusal in the officer bot ("Sorry, that did not work: …") reads in the staff
member's language: Vietnamese by default, English once they chose it — a post approved twice,
and a rumour's verdict published twice, whose refusal quotes the post's number as it is."""

from __future__ import annotations

from tortoise.context import TortoiseContext

from communepol.db.models import Contact, Post, PostCategory, PostStatus, Staff
from communepol.services import posts, rumours
from communepol.services import staff as roster
from communepol.settings import Settings
from tests import pagekit
from tests.botkit import Chatter
from tests.bots import test_officer, test_officer_tips


async def _in_vietnamese(person: Chatter, who: Staff) -> None:
    """``person`` links ``who`` keeping the default language, Vietnamese."""
    code, _expires = await roster.issue_link_code(pagekit.KEYRING, who)
    [reply] = await person.send(f"/link {code}")
    assert reply.text.startswith("Đã liên kết: tại đây bạn thao tác với tư cách")


async def _to_english(person: Chatter) -> None:
    await Contact.filter(id=(await person.contact()).id).update(locale="en")


async def test_a_post_approved_twice_is_refused_in_the_approvers_language(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await test_officer.province(approval=["fraud_warning"])
    text = posts.Translation("vi", "Cảnh giác cuộc gọi giả danh công an", "Không chuyển tiền.")
    draft = await posts.create_post(
        p.officer, p.ea_kar.id, posts.PostInput("fraud_warning", [text]), settings
    )
    post = await posts.submit_post(p.officer, draft.id, settings)
    assert post.status is PostStatus.PENDING_APPROVAL
    supervisor = test_officer.Person(p.bot, settings, "tg-supervisor-vi")
    await _in_vietnamese(supervisor, p.supervisor)

    [approved] = await supervisor.press(f"ov:p:{post.id}:y")
    assert approved.text == f"Đã duyệt tin #{post.id}: tin đang được đăng."
    [again] = await supervisor.press(f"ov:p:{post.id}:y")
    assert again.text == ("Xin lỗi, chưa thực hiện được: bài đăng này không ở trạng thái chờ duyệt")

    await _to_english(supervisor)
    [again] = await supervisor.press(f"ov:p:{post.id}:y")
    assert again.text == "Sorry, that did not work: this post is not waiting for approval"
    assert (await Post.get(id=post.id)).status is PostStatus.SCHEDULED


async def test_a_verdict_published_twice_is_refused_with_the_posts_number(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await test_officer_tips.district(approval=["rumour_check"])
    an = test_officer_tips.Person(d.bot, settings, "tg-an-vi")
    await _in_vietnamese(an, d.an)
    asked = await test_officer_tips.submit(
        d.residents[0], d.ea_kar, "Công an phát TIỀN cho dân!!", category="rumour_check"
    )
    await rumours.give_verdict(
        pagekit.KEYRING, d.an, asked.id, "false", "Công an không phát tiền. Đừng bấm link."
    )

    await an.press(f"tkp:{asked.id}")
    post = await Post.get(category=PostCategory.RUMOUR_CHECK)
    [twice] = await an.press(f"tkp:{asked.id}")
    assert twice.text == (
        f"Xin lỗi, chưa thực hiện được: kết luận này đã được viết thành bài đăng #{post.id}"
    )

    await _to_english(an)
    [twice] = await an.press(f"tkp:{asked.id}")
    assert twice.text == (
        f"Sorry, that did not work: this verdict was already written as post #{post.id}"
    )
    assert await Post.all().count() == 1
