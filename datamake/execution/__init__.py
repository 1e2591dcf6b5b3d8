"""Running a plan: tasks, executors, the coordinator loop and reporters."""
