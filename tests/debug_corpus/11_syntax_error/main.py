from parser_utils import parse_all

print(parse_all(["a=1", "b=2"]))
