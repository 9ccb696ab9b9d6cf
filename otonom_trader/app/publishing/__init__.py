"""Publishing a change for review: a commit on a new branch, pushed, with its pull request."""
