def total_price(items: list[dict]) -> float:
    subtotal = sum(item["price"] * item["qty"] for item in items)
    tax = subtotl * 0.2
    return subtotal + tax


print(total_price([{"price": 10.0, "qty": 2}]))
