from datamake.cli.main import run

run()
