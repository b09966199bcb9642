"""Image fidelity: each payload is encoded once per run whichever provider sends it, the same bytes go to
every wire format, sizes are known for providers' limits, and how images are sent is summarised."""

from __future__ import annotations

from collections.abc import Callable

from ctxsafe.images import ImagePolicy, ImageStore
from ctxsafe.providers.openai_compat import to_openai_messages
from ctxsafe.providers.openai_responses import to_responses_input
from ctxsafe.schema import Message


def test_each_payload_is_encoded_once_for_every_provider(make_png: Callable[..., bytes]) -> None:
    images = ImageStore()
    parts = [images.add_bytes(make_png((i, 0, 0)), source=f"{i}.png", record=str(i)) for i in range(100)]
    msgs = [Message.user(p, "what is this?") for p in parts]
    for _ in range(3):  # three providers (or roles) sending the same run's images
        chat = [to_openai_messages([m], images) for m in msgs]
        responses = [to_responses_input([m], images) for m in msgs]
        payloads = [images.base64_of(p) for p in parts]
    assert images.encodings == 100  # not 100 per provider, nor once per call
    assert chat[7][0]["content"][0]["image_url"]["url"].endswith(payloads[7])
    assert responses[7][1][0]["content"][0]["image_url"].endswith(payloads[7])


def test_sizes_and_the_policy_summary(make_png: Callable[..., bytes]) -> None:
    images = ImageStore(ImagePolicy(max_side=16))
    small = images.add_bytes(make_png((1, 2, 3), (8, 8)), source="small.png", record="a")
    big = images.add_bytes(make_png((4, 5, 6), (64, 32)), source="big.png", record="b")
    assert (big.width, big.height, big.policy) == (16, 8, "png:max16")  # the adjustment is recorded
    assert small.policy == "original"
    assert images.size_of(small) == len(images.bytes_of(small))
    assert images.policy_summary([small, big, small]) == \
        "2 images sent as prepared once for every provider: 1 original, 1 png:max16"
