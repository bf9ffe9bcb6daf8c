"""Paper tables as runnable rows: one module per table, ``get_config("row=NAME")``.

Every module defines ``TABLE`` (its id in docs/reproduction.json), ``ROWS`` (row name ->
``common.Row``) and ``get_config(arg)``; ``python -m zoo.reproduce --table=TABLE`` runs
them. ``TABLES`` lists the modules in the order docs/reproduction.md shows them.
"""
TABLES = ("burda2016_table1", "burda2016_appd", "dieng2019_table2", "iwae_random_weights",
          "other_methods")
