"""Local fakes of outside services, reached over real HTTP."""
