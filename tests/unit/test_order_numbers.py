from app.models.base import new_order_no


def test_order_numbers_are_readable_and_distinct():
    numbers = {new_order_no("GH") for _ in range(300)}
    assert len(numbers) == 300  # 8 random digits: a clash in one second is ~1 in 2,000 here
    sample = next(iter(numbers))
    assert sample.startswith("GH") and len(sample) == 24 and sample[2:].isdigit()
