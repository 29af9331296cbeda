/* a block comment /* nested; */ still a comment; */
INSERT INTO notes VALUES ('it''s; fine'), (E'back\'slash; too'), ("not a string; an identifier");
SELECT 'multi
line; string' AS s;
CREATE TABLE "odd;""name" (id int);
SELECT $1, a$b$c FROM t -- a parameter and an identifier with dollars
;
