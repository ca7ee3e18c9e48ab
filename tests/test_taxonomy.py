import pytest

from interanimate import taxonomy as T


def test_eighteen_unique_codes_in_paper_order():
    assert T.NUM_CLASSES == 18
    assert len(set(T.CODES)) == 18
    assert T.CODES[:2] == ("LH-NP", "RH-NP")
    assert [c.index for c in T.CLASSES] == list(range(18))


def test_category_counts_match_paper():
    counts = {cat: sum(c.category == cat for c in T.CLASSES) for cat in T.CATEGORIES}
    assert counts == {"pinching": 2, "stroking": 8, "poking": 6, "swiping": 2}


def test_mirror_pairs_are_involutions_and_swap_sides():
    for cls in T.CLASSES:
        partner = T.BY_CODE[cls.mirror]
        assert partner.code != cls.code
        assert partner.mirror == cls.code
        assert partner.category == cls.category and partner.region == cls.region
        assert partner.fingers == cls.fingers
        assert partner.hand != cls.hand


def test_poke_hand_parameter():
    same = {c.code: c.hand for c in T.build_classes("same")}
    opposite = {c.code: c.hand for c in T.build_classes("opposite")}
    assert same["LC-SF"] == "left" and opposite["LC-SF"] == "right"
    assert same["LH-NP"] == opposite["LH-NP"] == "left"
    with pytest.raises(ValueError, match="poke_hand"):
        T.build_classes("both")


def test_lookup_is_case_insensitive_and_errors_name_valid_codes():
    assert T.get_class("lh-np").code == "LH-NP"
    assert T.class_index("RL-FS") == 17
    with pytest.raises(ValueError, match="LH-NP"):
        T.get_class("XX-YY")
