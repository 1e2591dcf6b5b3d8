from datamake.cli.main import main

main(prog_name="datamake")
