import subprocess


def count_lines(filename: str) -> int:
    result = subprocess.run(f"wc -l < {filename}", shell=True, check=True, capture_output=True, text=True)
    return int(result.stdout)


print(count_lines("missing report.txt"))
