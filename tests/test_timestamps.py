"""Frame times where containers store them badly: decode-order places (AVI) and FFmpeg's best effort."""

from __future__ import annotations

from blazecli.media.timestamps import DecodeOrderSlots, TimestampFaults


def test_frames_shown_take_the_smallest_waiting_place() -> None:
    """I P B B P B: packets in decode order at places 0..5, shown as I B B P B P (places 0, 1,
    2, 3, 4, 5) with a reorder delay of two packets."""
    slots = DecodeOrderSlots()
    shown = []
    for place in range(6):
        slots.sent(place)
        if place >= 2:  # the decoder holds two packets back
            shown.append(slots.shown())
    shown += [slots.shown(), slots.shown(), slots.shown()]
    assert shown == [0, 1, 2, 3, 4, 5, None]


def test_a_refused_packet_leaves_its_place_unshown() -> None:
    slots = DecodeOrderSlots()
    for place in (0, 1, 2, 3):
        slots.sent(place)
    slots.refused(1)
    slots.refused(None)
    assert [slots.shown() for _ in range(4)] == [0, 2, 3, None]


def test_best_effort_trusts_the_stamps_that_go_back_less() -> None:
    faults = TimestampFaults()
    stamps = [faults.best_effort(pts, dts) for pts, dts in [(1, 2), (3, 3), (4, 4), (2, 5), (6, 6)]]
    assert stamps == [1, 3, 4, 5, 6]  # pts went back once, the dts never: dts from then on
