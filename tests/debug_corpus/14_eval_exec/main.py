def evaluate(expression: str, variables: dict) -> float:
    return eval(expression, {}, variables)


print(evaluate("price * qty", {"price": 2.5}))
