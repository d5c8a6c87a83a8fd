"""MuJoCo humanoid dexterous manipulation benchmark."""
