"""The seed's Tables 1 and 2 (the evaluate-by-ethnicity stage).

- tables: mean and std of the gender model's confidence per ethnicity x gender cell.
- sets: the items behind the tables, and how the model scores each one.
- faceswap: classical face swaps between aligned chips, same race and gender.
"""

__all__ = ["tables", "sets", "faceswap"]
