"""Everything analysts see outside the warehouse."""
