-- real-world golang-migrate style: a placeholder up file
-- replaced by 000096

;;
