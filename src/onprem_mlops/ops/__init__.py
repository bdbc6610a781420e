"""Operations of the running platform (restore drill)."""
