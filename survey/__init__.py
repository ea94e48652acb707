"""Survey platforms as sources of who has answered: the LimeSurvey RemoteControl poller."""
